;; A Guix Home configuration: a home-environment, not an operating system.
;; Written for vmfleet's test corpus.
(use-modules (gnu home)
             (gnu home services)
             (gnu home services shells)
             (gnu packages)
             (guix gexp))

(home-environment
 (packages (specifications->packages '("git" "ripgrep" "fd")))
 (services
  (list (service home-bash-service-type
                 (home-bash-configuration
                  (aliases '(("ll" . "ls -l")))))
        (simple-service 'editor home-environment-variables-service-type
                        '(("EDITOR" . "nano"))))))
