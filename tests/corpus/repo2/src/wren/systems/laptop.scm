;; A module that defines two operating systems and exports one: guix builds
;; the exported laptop-os (-e '(@ (wren systems laptop) laptop-os)'), not the
;; base it is made from.  Written for vmfleet's test corpus.
(define-module (wren systems laptop)
  #:use-module (gnu)
  #:use-module (wren common)
  #:export (laptop-os))

(use-service-modules networking ssh)

(define base-laptop
  (operating-system
    (host-name "wren-laptop")
    (timezone "Europe/London")
    (bootloader (bootloader-configuration
                  (bootloader grub-bootloader)
                  (targets '("/dev/vda"))))
    (file-systems (cons (file-system
                          (mount-point "/")
                          (device "/dev/vda2")
                          (type "ext4"))
                        %base-file-systems))
    (services (cons* (service dhcp-client-service-type)
                     (service openssh-service-type)
                     %base-services))))

(define laptop-os
  (with-wren-defaults base-laptop))
