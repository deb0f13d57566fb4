;; A machine that ships its own channels file to /etc/guix/channels.scm, so
;; that `guix pull' on it follows the same pin.  The local-file below names
;; pinned/channels.scm, this config's own file: a build must read these bytes,
;; not the generation's pin.  Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)

(operating-system
  (host-name "tern")
  (timezone "Europe/Helsinki")
  (locale "fi_FI.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (services
   (append (list (service dhcp-client-service-type)
                 (service openssh-service-type)
                 (simple-service 'pinned-channels etc-service-type
                                 `(("guix/channels.scm"
                                    ,(local-file "channels.scm")))))
           %base-services)))
