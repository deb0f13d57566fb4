;; The operating system every corp machine starts from.  This module only
;; defines it: build a host module, or this one with
;;   guix system -L . image -e '(@ (corp systems base) %corp-base-os)'
;; Written for vmfleet's test corpus.
(define-module (corp systems base)
  #:use-module (gnu)
  #:use-module (gnu services networking)
  #:use-module (gnu services ssh)
  #:use-module (corp users)
  #:export (%corp-base-os %corp-base-services))

(define %corp-base-services
  (append (list (service dhcp-client-service-type)
                (service openssh-service-type
                         (openssh-configuration
                          (password-authentication? #f)
                          (authorized-keys %corp-ssh-keys))))
          (modify-services %base-services
            (login-service-type config =>
                                (login-configuration
                                 (inherit config)
                                 (motd (local-file "../files/motd.txt")))))))

(define %corp-base-os
  (operating-system
    (host-name "corp-base")
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
    (users (append %corp-users %base-user-accounts))
    (packages (cons (specification->package "htop") %base-packages))
    (services %corp-base-services)))
