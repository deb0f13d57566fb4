;; A small server that keeps only some of %base-services with filter, and
;; drops one with remove.  What it filters out is something no other base
;; service requires (the mingetty ttys require virtual-terminal: Guix refuses
;; a system without it).  Written for vmfleet's test corpus.

(use-modules (gnu) (srfi srfi-1))
(use-service-modules networking ssh)

(define (unwanted? service)
  (memq (service-kind service)
        (list console-font-service-type)))

(operating-system
  (host-name "knot")
  (timezone "Europe/Tallinn")
  (locale "et_EE.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (services
   (cons* (service dhcp-client-service-type)
          (service openssh-service-type)
          (remove unwanted?
                  (filter (lambda (service)
                            (not (eq? (service-kind service)
                                      urandom-seed-service-type)))
                          %base-services)))))
