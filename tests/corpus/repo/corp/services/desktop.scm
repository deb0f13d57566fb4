;; The desktop services of corp workstations: %desktop-services without GDM
;; (replaced by SLiM) and with an X resources file.
;; Written for vmfleet's test corpus.
(define-module (corp services desktop)
  #:use-module (gnu)
  #:use-module (gnu services desktop)
  #:use-module (gnu services xorg)
  #:use-module (srfi srfi-1)
  #:export (%corp-desktop-services))

(define %corp-desktop-services
  (cons* (service slim-service-type)
         (simple-service 'xresources etc-service-type
                         `(("X11/Xresources" ,(local-file "../files/Xresources"))))
         (remove (lambda (s)
                   (eq? (service-kind s) gdm-service-type))
                 %desktop-services)))
