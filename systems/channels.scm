;; The Guix revision the systems in this folder are built with.
;; This pin comes from `guix describe -f channels` (run on the machine where the
;; systems were last tested); update it the same way to move the fleet forward.
(list (channel
        (name 'guix)
        (url "https://git.savannah.gnu.org/git/guix.git")
        (branch "master")
        (commit
          "b4d6ce5a8f0e2d17c0a3e7b8c1f94a2d6e5b3c70")
        (introduction
          (make-channel-introduction
            "9edb3f66fd807b096b48283debdcddccfea34bad"
            (openpgp-fingerprint
              "BBB0 2DDF 2CEA F6A8 0D1D  E643 A2A0 6DF2 A33A 54FA")))))
