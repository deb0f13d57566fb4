;; guix and a secrets channel whose modules are not named after it: sops-guix
;; keeps its modules below "modules" (its .guix-channel says (directory "modules")),
;; so (sops secrets) is modules/sops/secrets.scm.  Both pins are real commits.
(list (channel
        (name 'sops-guix)
        (url "https://github.com/fishinthecalculator/sops-guix")
        (branch "main")
        (commit "d988b2b31b9a51f081c88758649a2ff4064762de"))
      (channel
        (name 'guix)
        (url "https://git.savannah.gnu.org/git/guix.git")
        (branch "master")
        (commit "76e39909e886bb51cf9b2fa03a1523545faca880")))
