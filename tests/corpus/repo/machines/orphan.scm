;; Uses a module that is in no load path and is not a Guix module: guix says
;; "no code for module (corp systems gateway)"; vmfleet must refuse at add
;; time and name the module.  Written for vmfleet's test corpus.
(use-modules (gnu)
             (corp systems gateway))

(operating-system
  (inherit %corp-gateway-os)
  (host-name "corp-orphan"))
