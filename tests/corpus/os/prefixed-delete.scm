;; A desktop that imports (gnu services) with a prefix and drops GDM for
;; another login manager with the prefixed `delete` of modify-services.
;; Written for vmfleet's test corpus.

(use-modules (gnu)
             ((gnu services) #:prefix svc:))
(use-service-modules desktop xorg)

(operating-system
  (host-name "godwit")
  (timezone "Europe/Amsterdam")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (services (cons (service slim-service-type)
                  (modify-services %desktop-services
                    (svc:delete gdm-service-type)))))
