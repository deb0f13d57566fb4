;; Not a module: a plain config that imports the repository's modules, so it
;; needs -L with the repository root.  Written for vmfleet's test corpus.
(use-modules (gnu)
             (gnu services networking)
             (corp systems base))

(operating-system
  (inherit %corp-base-os)
  (host-name "corp-router")
  (packages (cons* (specification->package "nftables")
                   (operating-system-packages %corp-base-os)))
  (services (cons (service nftables-service-type)
                  (operating-system-user-services %corp-base-os))))
