;; An older config, from before bootloader-configuration took `targets':
;; the single `target' field and an explicit %base-packages cons.
;; Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)
(use-package-modules admin)

(operating-system
  (host-name "snipe")
  (timezone "Europe/Paris")
  (locale "fr_FR.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (target "/dev/sda")))
  (file-systems (cons (file-system
                        (device "/dev/sda1")
                        (mount-point "/")
                        (type "ext4"))
                      %base-file-systems))
  (users (cons (user-account
                (name "marc")
                (group "users")
                (supplementary-groups '("wheel"))
                (home-directory "/home/marc"))
               %base-user-accounts))
  (packages (cons tree %base-packages))
  (services (cons* (service dhcp-client-service-type)
                   (service openssh-service-type
                            (openssh-configuration
                             (port-number 2200)))
                   %base-services)))
