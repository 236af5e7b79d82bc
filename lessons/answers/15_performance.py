"""Answer key for lessons/15_performance.py. Try the exercises before reading it!

For each exercise: answers that ``--check N`` must accept ("right") and reject ("wrong").
tests/test_lessons.py runs them all.
"""
ANSWERS = {
    1: {"right": ["924844032", "2*8*128*28*28*64*9", "9.248e8"],
        "wrong": ["462422016",      # a multiply-add counted as one operation
                  "3699376128",     # the input size 56x56 used instead of the output 28x28
                  "2*8*128*28*28*64*3"]},  # the kernel counted as 3 taps instead of 3x3
    2: {"right": ["51380224 77070336", "8*32*64*56*56 12*32*64*56*56"],
        "wrong": ["25690112 51380224",    # only reads counted (4 bytes per element read)
                  "51380224 51380224",    # the backward's extra read of x forgotten
                  "102760448 154140672"]},  # float64's 8 bytes instead of float32's 4
    3: {"right": ["93.15 compute 0.125 memory", "93.1 compute 1/8 memory",
                  "924844032/9928704 Compute 0.125 Memory"],
        "wrong": ["93.15 memory 0.125 compute",   # the bounds swapped
                  "137.7 compute 0.125 memory",   # the bytes of y (the output) forgotten
                  "93.15 compute 0.25 memory",    # ReLU counted as reading 4 bytes only
                  "93.15 compute 0.125"]},        # a bound missing
}
