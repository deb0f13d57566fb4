;; A string that never ends.  Written for vmfleet's test corpus.
(use-modules (gnu))

(operating-system
  (host-name "quote)
  (timezone "Europe/Berlin"))
