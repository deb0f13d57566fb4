;; An Xfce machine for an old laptop, in the style of the lightweight desktop
;; template: cons* for both lists.  Written for vmfleet's test corpus.

(use-modules (gnu) (gnu system nss))
(use-service-modules desktop xorg)
(use-package-modules xfce wm certs)

(operating-system
  (host-name "petrel")
  (timezone "Europe/Lisbon")
  (locale "pt_PT.utf8")

  (bootloader (bootloader-configuration
                (bootloader grub-efi-bootloader)
                (targets '("/boot/efi"))))

  (file-systems (cons* (file-system
                         (device (file-system-label "guix"))
                         (mount-point "/")
                         (type "ext4"))
                       (file-system
                         (device (uuid "0E0F-1A2B" 'fat))
                         (mount-point "/boot/efi")
                         (type "vfat"))
                       %base-file-systems))

  (users (cons (user-account
                (name "rui")
                (group "users")
                (supplementary-groups '("wheel" "audio" "video")))
               %base-user-accounts))

  (packages (cons* i3-wm xfce4-terminal %base-packages))

  (services (cons* (service xfce-desktop-service-type)
                   %desktop-services))

  (name-service-switch %mdns-host-lookup-nss))
