;; A kiosk whose login banner comes from a module of this repository that
;; finds its files through (current-filename).  Written for vmfleet's test
;; corpus.
(use-modules (gnu) (wren banner))
(use-service-modules networking)

(operating-system
  (host-name "wren-kiosk")
  (timezone "Europe/London")
  (issue %banner)
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (services (cons (service dhcp-client-service-type)
                  %base-services)))
