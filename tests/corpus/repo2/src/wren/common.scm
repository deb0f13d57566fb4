;; Defaults every wren machine gets: a motd read from the repository when the
;; config is evaluated, and an activation snippet that imports a build-side
;; module of this repository.  Written for vmfleet's test corpus.
(define-module (wren common)
  #:use-module (gnu)
  #:use-module (guix gexp)
  #:use-module (guix modules)
  #:use-module (guix utils)
  #:use-module (ice-9 textual-ports)
  #:export (with-wren-defaults wren-os %motd-text))

;; Not (dirname (current-filename)): while guix loads a config file, Guile
;; names this module wren/common.scm, relative to -L src.
(define %here (current-source-directory))

(define %motd-text
  (call-with-input-file (string-append %here "/../../files/motd") get-string-all))

(define %write-motd
  (with-imported-modules (source-module-closure '((wren build motd)))
    #~(begin
        (use-modules (wren build motd))
        (write-motd "/etc/motd.wren" #$%motd-text))))

(define (with-wren-defaults os)
  (operating-system
    (inherit os)
    (services (cons (simple-service 'wren-motd activation-service-type %write-motd)
                    (operating-system-user-services os)))))

(define (wren-os name)
  (operating-system
    (host-name name)
    (timezone "Europe/London")
    (bootloader (bootloader-configuration
                  (bootloader grub-bootloader)
                  (targets '("/dev/vda"))))
    (file-systems (cons (file-system
                          (mount-point "/")
                          (device "/dev/vda2")
                          (type "ext4"))
                        %base-file-systems))))
