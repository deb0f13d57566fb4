;; A banner read from the repository when the config is evaluated, the way
;; many personal configs first write it.  It breaks when a config file loads
;; it from -L src: Guile names it wren/banner.scm (relative to src), so
;; (current-filename) is #f from the repository's root and dirname fails.
;; (wren common) uses current-source-directory instead.
;; Written for vmfleet's test corpus.
(define-module (wren banner)
  #:use-module (ice-9 textual-ports)
  #:export (%banner))

(define %banner
  (call-with-input-file (string-append (dirname (current-filename)) "/../../files/motd") get-string-all))
