;; The manual's idiom: the default guix channel, pinned (release 1.4.0).
(list (channel
        (inherit (car %default-channels))
        (commit "8e2f32cee982d42a79e53fc1e9aa7b8ff0514714")))
