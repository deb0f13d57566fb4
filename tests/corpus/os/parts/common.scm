;; Loaded by ../load-main.scm with `load': not a config of its own.

(define %common-packages
  (map specification->package '("htop" "tmux" "rsync")))

(define %common-services
  (list (service dhcp-client-service-type)
        (service openssh-service-type
                 (openssh-configuration
                  (password-authentication? #f)))))
