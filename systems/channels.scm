;; The Guix revision the systems in this folder are built with.
;; This pin comes from `guix describe -f channels` (run on the machine where the
;; systems were last tested); update it the same way to move the fleet forward.
(list (channel
        (name 'guix)
        (url "https://git.savannah.gnu.org/git/guix.git")
        (branch "master")
        (commit
          "dc4c48f10281007a0ab3541b8a64198c60c6d5b0")
        (introduction
          (make-channel-introduction
            "9edb3f66fd807b096b48283debdcddccfea34bad"
            (openpgp-fingerprint
              "BBB0 2DDF 2CEA F6A8 0D1D  E643 A2A0 6DF2 A33A 54FA")))))
