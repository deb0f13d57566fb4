;; Package lists for corp machines: a helper module, not a system.
;; Written for vmfleet's test corpus.
(define-module (corp packages tools)
  #:use-module (gnu packages)
  #:use-module (srfi srfi-1)
  #:export (%dev-tools %net-tools))

(define %dev-tools
  (specifications->packages '("git" "make" "gcc-toolchain")))

(define %net-tools
  (map specification->package '("curl" "nmap" "tcpdump")))
