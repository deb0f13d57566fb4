;; The older output, before branches and introductions were printed
;; (`guix describe -f channels-sans-intro' still prints this shape).
(list (channel
        (name 'guix)
        (url "https://git.savannah.gnu.org/git/guix.git")
        (commit
          "a0178d34f582b50e9bdbb0403943129ae5b560ff")))
