;; A headless machine in the style of Guix's bare-bones template: one ordinary
;; user in "wheel" who logs in with a key kept next to the corpus (../keys).
;; Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)
(use-package-modules screen ssh)

(operating-system
  (host-name "komodo")
  (timezone "Europe/Paris")
  (locale "en_US.utf8")

  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))

  (file-systems (cons (file-system
                        (device (file-system-label "root"))
                        (mount-point "/")
                        (type "ext4"))
                      %base-file-systems))

  (users (cons (user-account
                (name "admin")
                (comment "Machine administrator")
                (group "users")
                (supplementary-groups '("wheel" "netdev")))
               %base-user-accounts))

  (packages (cons screen %base-packages))

  (services (append (list (service dhcp-client-service-type)
                          (service openssh-service-type
                                   (openssh-configuration
                                    (openssh openssh-sans-x)
                                    (port-number 22)
                                    (authorized-keys
                                     `(("admin" ,(local-file "../keys/admin.pub")))))))
                    %base-services)))
