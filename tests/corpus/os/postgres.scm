;; A database server with a role and a nightly vacuum, openssh for the DBA.
;; Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules databases mcron networking ssh)
(use-package-modules databases)

(define %vacuum
  #~(job "15 3 * * *" "vacuumdb --all --analyze" #:user "postgres"))

(operating-system
  (host-name "puffin")
  (timezone "Atlantic/Reykjavik")
  (locale "is_IS.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (users (cons (user-account
                (name "dba")
                (group "users")
                (supplementary-groups '("wheel")))
               %base-user-accounts))
  (packages (cons postgresql-15 %base-packages))
  (services
   (append (list (service dhcp-client-service-type)
                 (service openssh-service-type
                          (openssh-configuration
                           (authorized-keys
                            `(("dba" ,(local-file "../keys/admin.pub"))))))
                 (service postgresql-service-type
                          (postgresql-configuration
                           (postgresql postgresql-15)))
                 (service postgresql-role-service-type
                          (postgresql-role-configuration
                           (roles (list (postgresql-role
                                         (name "shop")
                                         (create-database? #t))))))
                 (simple-service 'vacuum mcron-service-type (list %vacuum)))
           %base-services)))
