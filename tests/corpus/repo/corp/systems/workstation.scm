;; A desktop workstation: the base system's users and keys with the corp
;; desktop services.  Written for vmfleet's test corpus.
(define-module (corp systems workstation)
  #:use-module (gnu)
  #:use-module (gnu services ssh)
  #:use-module (corp systems base)
  #:use-module (corp users)
  #:use-module (corp services desktop))

(operating-system
  (inherit %corp-base-os)
  (host-name "corp-ws")
  (services (cons (service openssh-service-type
                           (openssh-configuration
                            (authorized-keys %corp-ssh-keys)))
                  %corp-desktop-services)))
