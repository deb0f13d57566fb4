;; A WireGuard peer.  The private key path is a string read on the machine at
;; run time, not a local-file: it is not an input of the build.
;; Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh vpn)

(operating-system
  (host-name "sora")
  (timezone "Asia/Seoul")
  (locale "ko_KR.utf8")
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
                 (service wireguard-service-type
                          (wireguard-configuration
                           (addresses '("10.8.0.2/24"))
                           (private-key "/etc/wireguard/private.key")
                           (peers
                            (list (wireguard-peer
                                   (name "hub")
                                   (endpoint "hub.corpus.invalid:51820")
                                   (public-key "Yk6JmZ0bC2E9mJr1sT4uVwXyZaBcDeFgHiJkLmNoPqE=")
                                   (allowed-ips '("10.8.0.0/24"))))))))
           %base-services)))
