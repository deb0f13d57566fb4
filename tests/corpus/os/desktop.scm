;; A GNOME desktop whose display manager (GDM) is taken out of
;; %desktop-services with remove, after modify-services changed the
;; substitute servers and the VPN plugins.  Written for vmfleet's test corpus.

(use-modules (gnu) (gnu system nss) (srfi srfi-1))
(use-service-modules desktop networking ssh xorg)
(use-package-modules certs gnome)

(operating-system
  (host-name "lumen")
  (timezone "America/Montreal")
  (locale "fr_CA.utf8")
  (keyboard-layout (keyboard-layout "ca" "fr"))

  (bootloader (bootloader-configuration
                (bootloader grub-efi-bootloader)
                (targets '("/boot/efi"))
                (keyboard-layout keyboard-layout)))

  (file-systems (append
                 (list (file-system
                         (device (file-system-label "my-root"))
                         (mount-point "/")
                         (type "ext4"))
                       (file-system
                         (device (uuid "1A2B-3C4D" 'fat))
                         (mount-point "/boot/efi")
                         (type "vfat")))
                 %base-file-systems))

  (users (cons (user-account
                (name "odile")
                (comment "Odile")
                (group "users")
                (supplementary-groups '("wheel" "netdev" "audio" "video")))
               %base-user-accounts))

  (packages (append (list gnome-tweaks
                          (specification->package "icecat")
                          (specification->package "git"))
                    %base-packages))

  (services
   (append
    (list (service gnome-desktop-service-type)
          (service openssh-service-type))
    (remove (lambda (service)
              (eq? (service-kind service) gdm-service-type))
            (modify-services %desktop-services
              (guix-service-type config =>
                                 (guix-configuration
                                  (inherit config)
                                  (substitute-urls
                                   (list "https://bordeaux.guix.gnu.org"))))
              (network-manager-service-type config =>
                                            (network-manager-configuration
                                             (inherit config)
                                             (vpn-plugins '())))))))

  (name-service-switch %mdns-host-lookup-nss))
