;; The key's file name is a string defined earlier in the file.  Guix resolves
;; a non-literal local-file name against the current directory (and says so
;; in a warning), so this config is meant to be built from its own directory.
;; Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)

(define %admin-key-file "../keys/admin.pub")
(define %admin "tomas")

(operating-system
  (host-name "avocet")
  (timezone "Europe/Prague")
  (locale "cs_CZ.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (users (cons (user-account
                (name %admin)
                (group "users")
                (supplementary-groups '("wheel")))
               %base-user-accounts))
  (services
   (append (list (service dhcp-client-service-type)
                 (service openssh-service-type
                          (openssh-configuration
                           (authorized-keys
                            `((,%admin ,(local-file %admin-key-file)))))))
           %base-services)))
