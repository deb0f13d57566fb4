;; File names computed from the config's own location, a habit of configs that
;; are run from anywhere: (dirname (current-filename)) is this file's
;; directory, so both names below are absolute once evaluated.
;; Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)

(define %here (dirname (current-filename)))

(operating-system
  (host-name "shrike")
  (timezone "Europe/Warsaw")
  (locale "pl_PL.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (users (cons (user-account
                (name "ola")
                (group "users")
                (supplementary-groups '("wheel")))
               %base-user-accounts))
  (services
   (append (list (service dhcp-client-service-type)
                 (service openssh-service-type
                          (openssh-configuration
                           (authorized-keys
                            `(("ola" ,(local-file
                                       (string-append (dirname (current-filename))
                                                      "/../keys/alice.pub"))))))))
           (modify-services %base-services
             (login-service-type config =>
                                 (login-configuration
                                  (inherit config)
                                  (motd (local-file
                                         (string-append %here "/files/motd")))))))))
