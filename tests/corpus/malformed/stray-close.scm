;; One closing parenthesis too many after a complete form, and a reader
;; error (#<...> is unreadable).  Written for vmfleet's test corpus.
(use-modules (gnu))

(define %broken #<procedure broken ()>)
))
