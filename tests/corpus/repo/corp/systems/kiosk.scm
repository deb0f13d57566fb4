;; A kiosk.  The banner's file name is a string defined in this module; a
;; non-literal local-file name is resolved by Guix against the CURRENT
;; directory, so this module must be built from the repository root.
;; Written for vmfleet's test corpus.
(define-module (corp systems kiosk)
  #:use-module (gnu)
  #:use-module (gnu services base)
  #:use-module (corp systems base))

(define %banner-file "corp/files/banner.txt")

(operating-system
  (inherit %corp-base-os)
  (host-name "corp-kiosk")
  (services
   (modify-services (operating-system-user-services %corp-base-os)
     (login-service-type config =>
                         (login-configuration
                          (inherit config)
                          (motd (local-file %banner-file)))))))
