;; Both kinds of SSH access: an ordinary wheel user with a key, and root with
;; permit-root-login and its own key.  Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)

(operating-system
  (host-name "grebe")
  (timezone "Europe/Vienna")
  (locale "de_AT.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (users (cons (user-account
                (name "alice")
                (group "users")
                (supplementary-groups '("wheel")))
               %base-user-accounts))
  (services
   (append (list (service dhcp-client-service-type)
                 (service openssh-service-type
                          (openssh-configuration
                           (permit-root-login 'prohibit-password)
                           (password-authentication? #f)
                           (authorized-keys
                            `(("alice" ,(local-file "../keys/alice.pub"))
                              ("root" ,(local-file "../keys/admin.pub")))))))
           %base-services)))
