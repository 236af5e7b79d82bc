"""Answer key for lessons/08_resnet18.py. Try the exercises before reading it!

For each exercise: answers that ``--check N`` must accept ("right") and reject ("wrong").
tests/test_lessons.py runs them all. A code exercise's answer is what a student could type
after the exercise number instead of editing the file: an expression (a lambda) or code that
defines ``answer``.
"""
ANSWERS = {
    # 3*3*128*256 + 2*256 + 3*3*256*256 + 2*256 + 1*1*128*256 + 2*256
    1: {"right": ["919040", "919_040", "9*128*256 + 9*256*256 + 128*256 + 6*256"],
        "wrong": ["885760",    # the downsample shortcut forgotten
                  "920576",    # running mean and variance counted as parameters
                  "919808",    # a bias on every conv
                  "1179648"]}, # conv1 counted as 256 -> 256
    2: {"right": ["256 13 10", "(256, 13, 10)"],
        "wrong": ["256 12 9",    # 200 // 16 and 150 // 16: the rounding of each layer ignored
                  "128 13 10",   # the channels of layer2
                  "256 25 19",   # the size after layer2
                  "256 14 10"]},
    3: {"right": ["def answer(block, x):\n"
                  "    out = F.relu(block.bn1(block.conv1(x)))\n"
                  "    out = block.bn2(block.conv2(out))\n"
                  "    shortcut = x if block.downsample is None else block.downsample(x)\n"
                  "    return F.relu(out + shortcut)\n"],
        "wrong": [  # the ReLU before the addition
                  "def answer(block, x):\n"
                  "    out = F.relu(block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x))))))\n"
                  "    return out + (x if block.downsample is None else block.downsample(x))\n",
                  # the downsample ignored: shapes clash on the second block
                  "lambda block, x:"
                  " F.relu(block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x))))) + x)",
                  # no shortcut at all: a plain block
                  "lambda block, x:"
                  " F.relu(block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x)))))))"]},
}
