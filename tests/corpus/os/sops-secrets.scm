;; A server whose secrets come from a channel: (sops secrets) is the
;; sops-guix channel's module, not on any -L.  Recorded with the channel pinned
;; (channels/sops-pinned.scm).  Written for vmfleet's test corpus.

(use-modules (gnu)
             (sops secrets))
(use-service-modules networking ssh)

(define %db-password
  (sops-secret
   (key '("db" "password"))
   (file (local-file "files/motd"))))

(operating-system
  (host-name "shrike")
  (timezone "Europe/Oslo")
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
                    %base-services)))
