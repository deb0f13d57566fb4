;; modify-services inside modify-services, and a service deleted on the way,
;; around %desktop-services.  Written for vmfleet's test corpus.

(use-modules (gnu) (srfi srfi-1))
(use-service-modules desktop networking sound xorg)

(define %my-desktop-services
  (modify-services %desktop-services
    (delete pulseaudio-service-type)
    (elogind-service-type config =>
                          (elogind-configuration
                           (inherit config)
                           (handle-lid-switch 'suspend)))))

(operating-system
  (host-name "stilt")
  (timezone "Europe/Rome")
  (locale "it_IT.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-efi-bootloader)
                (targets '("/boot/efi"))))
  (file-systems (cons* (file-system
                         (device (file-system-label "root"))
                         (mount-point "/")
                         (type "ext4"))
                       (file-system
                         (device (uuid "5E6F-7A8B" 'fat))
                         (mount-point "/boot/efi")
                         (type "vfat"))
                       %base-file-systems))
  (users (cons (user-account
                (name "giulia")
                (group "users")
                (supplementary-groups '("wheel" "audio" "video")))
               %base-user-accounts))
  (services
   (cons (service xfce-desktop-service-type)
         (modify-services %my-desktop-services
           (network-manager-service-type config =>
                                         (network-manager-configuration
                                          (inherit config)
                                          (dns "dnsmasq")))))))
