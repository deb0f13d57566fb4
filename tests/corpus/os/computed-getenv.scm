;; The key comes from an environment variable at build time: nothing a
;; recorder can know from the text, so vmfleet must warn.
;; Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)

(operating-system
  (host-name "jacana")
  (timezone "America/Lima")
  (locale "es_PE.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (users (cons (user-account
                (name "lucia")
                (group "users")
                (supplementary-groups '("wheel")))
               %base-user-accounts))
  (services
   (append (list (service dhcp-client-service-type)
                 (service openssh-service-type
                          (openssh-configuration
                           (authorized-keys
                            `(("lucia" ,(local-file (getenv "LUCIA_SSH_KEY"))))))))
           %base-services)))
