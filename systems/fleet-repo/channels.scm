;; The Guix revision the acme fleet is built with: master at 2024-05-31, as
;; `guix describe -f channels' printed it.  Move the fleet forward by
;; replacing this file with that command's output on an updated machine.
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
