;; A profile manifest (guix package -m / guix shell -m), sometimes kept next
;; to system configs: it evaluates to a manifest, not an operating system.
;; Written for vmfleet's test corpus.
(specifications->manifest
 '("python" "python-requests" "coreutils"))
