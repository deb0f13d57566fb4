;; db: PostgreSQL on the acme base system, with an application role.
(define-module (acme systems db)
  #:use-module (gnu)
  #:use-module (gnu services databases)
  #:use-module (gnu packages databases)
  #:use-module (acme systems base))

(operating-system
  (inherit %acme-base-os)
  (host-name "db")
  (packages (append (list postgresql-15
                          (specification->package "rsync"))
                    (operating-system-packages %acme-base-os)))
  (services
   (append (list (service postgresql-service-type
                          (postgresql-configuration
                           (postgresql postgresql-15)
                           (port 5432)))
                 (service postgresql-role-service-type
                          (postgresql-role-configuration
                           (roles (list (postgresql-role
                                         (name "app")
                                         (create-database? #t)))))))
           (operating-system-user-services %acme-base-os))))
