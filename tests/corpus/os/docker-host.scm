;; A container host: docker needs elogind/dbus, the user joins "docker".
;; Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules dbus desktop docker networking ssh)

(operating-system
  (host-name "cormorant")
  (timezone "Europe/Amsterdam")
  (locale "en_US.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (users (cons (user-account
                (name "ci")
                (group "users")
                (supplementary-groups '("wheel" "docker")))
               %base-user-accounts))
  (packages (cons (specification->package "docker-cli") %base-packages))
  (services (append (list (service dhcp-client-service-type)
                          (service openssh-service-type)
                          (service dbus-root-service-type)
                          (service elogind-service-type)
                          (service docker-service-type))
                    %base-services)))
