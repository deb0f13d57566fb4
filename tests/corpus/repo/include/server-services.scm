;; Included by corp/systems/server.scm (relative to that file): the web
;; services of corp servers.  Not a module and not a config.
(define %server-extra-services
  (list (service nginx-service-type
                 (nginx-configuration
                  (server-blocks
                   (list (nginx-server-configuration
                          (server-name '("intranet"))
                          (listen '("80"))
                          (root "/srv/http"))))))))
