;; Two exported operating systems: which one is the system is the user's
;; choice (--system NAME=FILE:VARIABLE).  Written for vmfleet's test corpus.
(define-module (wren systems twins)
  #:use-module (gnu)
  #:use-module (wren common)
  #:export (twin-a twin-b))

(define twin-a
  (operating-system
    (inherit (wren-os "wren-twin-a"))
    (host-name "wren-twin-a")))

(define twin-b
  (operating-system
    (inherit twin-a)
    (host-name "wren-twin-b")))
