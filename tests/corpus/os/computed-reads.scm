;; Files read while the config is evaluated, by names vmfleet cannot compute,
;; and a gexp whose module list comes from a procedure: each is a warning.
;; Written for vmfleet's test corpus.

(use-modules (gnu) (guix gexp) (ice-9 textual-ports))
(use-service-modules networking mcron)

(define %banner
  (call-with-input-file (string-append (getenv "HOME") "/banner.txt") get-string-all))

(define %job
  (with-imported-modules (job-modules)
    #~(job "0 3 * * *" "true")))

(operating-system
  (host-name "bittern")
  (timezone "Europe/Riga")
  (issue %banner)
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (services (cons* (service dhcp-client-service-type)
                   (service mcron-service-type
                            (mcron-configuration (jobs (list %job))))
                   %base-services)))
