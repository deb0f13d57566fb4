;; Build-side helpers a gexp imports with with-imported-modules.
(define-module (wren build motd)
  #:export (write-motd))

(define (write-motd file text)
  (call-with-output-file file (lambda (port) (display text port))))
