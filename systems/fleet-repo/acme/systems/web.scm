;; web: nginx on the acme base system.  The file's last form is the
;; operating system, so `guix system image -L . acme/systems/web.scm' builds it.
(define-module (acme systems web)
  #:use-module (gnu)
  #:use-module (gnu services web)
  #:use-module (acme systems base))

(operating-system
  (inherit %acme-base-os)
  (host-name "web")
  (packages (append (list (specification->package "nginx")
                          (specification->package "curl"))
                    (operating-system-packages %acme-base-os)))
  (services
   (cons (service nginx-service-type
                  (nginx-configuration
                   (server-blocks
                    (list (nginx-server-configuration
                           (server-name '("web"))
                           (listen '("80"))
                           (root "/srv/http"))))))
         (operating-system-user-services %acme-base-os))))
