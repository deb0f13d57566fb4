"""Real commits of the guix channel for tests that need a pin but never run that Guix: a
registry, a diff or a listing only carries them (docs/guix-facts.md, "Pins", dates them)."""

V1_4_0 = "8e2f32cee982d42a79e53fc1e9aa7b8ff0514714"      # 2022-12-18
C_2023_03 = "cebcf3533ab83233121434254a6ae7b8c35cfa1f"   # 2023-03-31
C_2023_06 = "76e39909e886bb51cf9b2fa03a1523545faca880"   # 2023-07-01
C_2023_10 = "60c97924e9519361494aaf0686e28eb831a42315"   # 2023-11-01
C_2024_05 = "dc4c48f10281007a0ab3541b8a64198c60c6d5b0"   # 2024-05-31

IN_ORDER = (V1_4_0, C_2023_03, C_2023_06, C_2023_10, C_2024_05)
