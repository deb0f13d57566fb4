;; A web server.  This module only DEFINES the system (corp-server); guix
;; builds it with -e '(@ (corp systems server) corp-server)', as loading the
;; file returns no operating system.
;; Written for vmfleet's test corpus.
(define-module (corp systems server)
  #:use-module (gnu)
  #:use-module (gnu services web)
  #:use-module (corp systems base)
  #:use-module (corp packages tools))

(include "../../include/server-services.scm")

(define-public corp-server
  (operating-system
    (inherit %corp-base-os)
    (host-name "corp-server")
    (packages (append %net-tools (operating-system-packages %corp-base-os)))
    (services (append %server-extra-services
                      (operating-system-user-services %corp-base-os)))))
