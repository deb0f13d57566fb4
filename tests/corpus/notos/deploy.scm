;; A `guix deploy' file: a list of machines, each with an operating system.
;; `guix system' refuses it (it returns a list, not an operating system), and
;; so must vmfleet.  Written for vmfleet's test corpus.
(use-modules (gnu) (gnu machine) (gnu machine ssh))
(use-service-modules networking ssh)

(define %target-os
  (operating-system
    (host-name "crane")
    (timezone "Europe/Berlin")
    (locale "en_US.utf8")
    (bootloader (bootloader-configuration
                  (bootloader grub-bootloader)
                  (targets '("/dev/vda"))))
    (file-systems (cons (file-system
                          (mount-point "/")
                          (device "/dev/vda2")
                          (type "ext4"))
                        %base-file-systems))
    (services (append (list (service dhcp-client-service-type)
                            (service openssh-service-type))
                      %base-services))))

(list (machine
       (operating-system %target-os)
       (environment managed-host-environment-type)
       (configuration (machine-ssh-configuration
                       (host-name "crane.corpus.invalid")
                       (system "x86_64-linux")
                       (user "deploy")
                       (identity "~/.ssh/id_ed25519")
                       (port 22)))))
