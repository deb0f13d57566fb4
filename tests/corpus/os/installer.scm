;; A custom installation image: everything but the time zone and the extra
;; package comes from installation-os, which is Guix's.  Written for
;; vmfleet's test corpus.

(use-modules (gnu)
             (gnu system install))
(use-package-modules version-control)

(operating-system
  (inherit installation-os)
  (timezone "Europe/Helsinki")
  (packages (cons git (operating-system-packages installation-os))))
