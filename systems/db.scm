;; db: a PostgreSQL server, booted by vmfleet as a qcow2 VM.
;;
;; Build it the way vmfleet does:
;;   guix time-machine -C channels.scm -- system image -t qcow2 --save-provenance db.scm

(use-modules (gnu))
(use-service-modules databases networking ssh)
(use-package-modules databases)

(operating-system
  (host-name "db")
  (timezone "Europe/Berlin")
  (locale "en_US.utf8")

  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))

  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))

  ;; vmfleet logs in as dba: root may not log in over SSH (permit-root-login is #f by
  ;; default in Guix), and dba is the one user whose authorized keys hold vmfleet's key.
  (users (cons (user-account
                 (name "dba")
                 (comment "Database administration")
                 (group "users")
                 (supplementary-groups '("wheel")))
               %base-user-accounts))

  (packages (append (list postgresql-15
                          (specification->package "rsync"))
                    %base-packages))

  (services
   (append (list (service dhcp-client-service-type)
                 (service openssh-service-type
                          (openssh-configuration
                           (password-authentication? #f)
                           (authorized-keys
                            `(("dba" ,(local-file "vmfleet.pub"))))))
                 (service postgresql-service-type
                          (postgresql-configuration
                           (postgresql postgresql-15)
                           (port 5432)))
                 (service postgresql-role-service-type
                          (postgresql-role-configuration
                           (roles (list (postgresql-role
                                         (name "app")
                                         (create-database? #t)))))))
           %base-services)))
