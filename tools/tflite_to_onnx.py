"""Convert MediaPipe's BlazeFace ``.tflite`` files to ONNX (a dev tool, not a runtime dependency).

Only the operators that the face detection models use are supported; anything else is refused
by name, so a new model version cannot convert silently wrong. Activations are kept NCHW
inside the graph; the ONNX input stays NHWC like the TFLite one, with a dynamic batch axis.

``--blocked`` writes the same network shaped for ONNX Runtime's blocked (NCHWc) kernels, which
it uses on x86 CPUs only: skip-path channel padding as a 1x1 identity convolution and
activations widened to multiples of 16 channels that stay zero. On x86 CPUs that form runs a
third faster or more; elsewhere (CUDA, ARM) the extra channels would be work for nothing.

``--uint8-input`` takes the uint8 pixels themselves and normalizes them inside the graph (the
same float32 arithmetic as ``preprocess.to_model_input``), so a GPU is sent a quarter of the
bytes and does the normalizing; ``--float16`` stores weights and computes activations in float16
(outputs stay float32). Together they make the CUDA form.

    python tools/tflite_to_onnx.py face_detection_short_range.tflite blazecli/models/short_range.onnx
    python tools/tflite_to_onnx.py --blocked face_detection_short_range.tflite short_range_nchwc.onnx
    python tools/tflite_to_onnx.py --uint8-input --float16 face_detection_short_range.tflite short_range_cuda.onnx

Needs the ``convert`` extra (``tflite`` parser, ``onnx``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

_OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_TFLITE_DTYPES = {
    tflite.TensorType.FLOAT32: np.float32,
    tflite.TensorType.FLOAT16: np.float16,
    tflite.TensorType.INT32: np.int32,
    tflite.TensorType.INT64: np.int64,
}
_NHWC_TO_NCHW = [0, 3, 1, 2]
_NCHW_TO_NHWC = [0, 2, 3, 1]


def _same_pads(in_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
               dilation: tuple[int, int] = (1, 1)) -> list[int]:
    """TFLite SAME padding: total padding split with the odd pixel at the bottom/right."""
    begin, end = [], []
    for size, k, s, d in zip(in_hw, kernel, stride, dilation, strict=False):
        out = math.ceil(size / s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        begin.append(total // 2)
        end.append(total - total // 2)
    return begin + end


# ORT's NCHWc block is 16 channels on AVX-512 and 8 on AVX2; 16 suits both. On the (AVX-512) dev
# machine it ran the short model 16 % faster than widening to 8, for the same multiply-adds
# (widening 24 to 32 channels turns the first skip-path widening into the identity).
_CHANNEL_BLOCK = 16
_CHANNEL_AGNOSTIC = {"Relu", "Add", "MaxPool", "Resize"}


def _padded(channels: int) -> int:
    return -(-channels // _CHANNEL_BLOCK) * _CHANNEL_BLOCK


def _embeds_identity(kernel: np.ndarray, channels: int) -> bool:
    """A 1x1 kernel copying the first ``channels`` inputs to the same outputs, all else zero."""
    if kernel.shape[2:] != (1, 1):
        return False
    expected = np.zeros(kernel.shape, np.float32)
    expected[np.arange(channels), np.arange(channels)] = 1.0
    return np.array_equal(kernel, expected)


def _pad_channels_to_blocks(nodes: list[onnx.NodeProto],
                            initializers: dict[str, np.ndarray]) -> list[onnx.NodeProto]:
    """Widen activations to a multiple of 16 channels with channels that are always zero.

    ORT runs a convolution in its fast blocked NCHWc layout only when the channel counts are
    multiples of the block; the short model's 28-, 36- and 42-channel stages fell back to
    plain NCHW with a layout reorder around them (and MaxPool with them). The extra channels
    get zero weights and zero bias, so they stay exactly zero through Relu, Add and MaxPool,
    and the layers reading them give them zero weight: the values are unchanged. A skip-path
    widening that becomes the identity is dropped. Short model, one core, batch 8: 1.25 ->
    0.82 ms a frame. Convolutions feeding anything else (the output heads) keep their width.
    """
    consumers: dict[str, list[str]] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node.op_type)
    width: dict[str, tuple[int, int]] = {}  # tensor -> (real, padded) channels
    out = []
    for node in nodes:
        if node.op_type in _CHANNEL_AGNOSTIC:
            activations = node.input if node.op_type == "Add" else node.input[:1]
            widths = {width.get(name) for name in activations}
            if len(widths) > 1:
                raise NotImplementedError(f"{node.op_type} of tensors of different widths")
            (common,) = widths
            if common is not None:
                width[node.output[0]] = common
        elif node.op_type == "Conv" and node.input[0] in width:
            real_in, padded_in = width[node.input[0]]
            kernel = initializers[node.input[1]]
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            real_out = kernel.shape[0]
            if group > 1:  # depthwise: one filter per channel
                if group != real_in or real_out != real_in:
                    raise NotImplementedError("grouped convolution other than depthwise")
                padded_out = padded_in
                next(a for a in node.attribute if a.name == "group").i = padded_in
                wide = np.zeros((padded_out, *kernel.shape[1:]), np.float32)
                wide[:real_out] = kernel
            else:
                heads = set(consumers.get(node.output[0], [])) - _CHANNEL_AGNOSTIC - {"Conv"}
                padded_out = real_out if heads else _padded(real_out)
                wide = np.zeros((padded_out, padded_in, *kernel.shape[2:]), np.float32)
                wide[:real_out, :real_in] = kernel
            if padded_out == padded_in and _embeds_identity(wide, real_in) and len(node.input) == 2:
                # A widening whose new channels already exist (as zeros): the output is the input.
                node = helper.make_node("Identity", node.input[:1], node.output[:1])
                width[node.output[0]] = (real_out, padded_out)
                out.append(node)
                continue
            initializers[node.input[1]] = wide
            if len(node.input) > 2:
                bias = np.zeros(padded_out, np.float32)
                bias[:real_out] = initializers[node.input[2]]
                initializers[node.input[2]] = bias
            width[node.output[0]] = (real_out, padded_out)
        elif any(width.get(name, (0, 0))[0] != width.get(name, (0, 0))[1] for name in node.input):
            raise NotImplementedError(f"{node.op_type} of a widened tensor")
        elif node.op_type == "Transpose" and node.input[0] == "input":
            width[node.output[0]] = (3, 3)
        out.append(node)
    return out


def _normalize_uint8_input(nodes: list[onnx.NodeProto], initializers: dict[str, np.ndarray],
                           dtype: int) -> list[onnx.NodeProto]:
    """Feed the graph from uint8 pixels: ``x * (2/255) - 1`` in float32, as ``to_model_input``.

    ``dtype`` is the element type the network computes in (a float16 network gets a Cast).
    """
    initializers["c_pixel_scale"] = np.array(2.0 / 255.0, np.float32)
    initializers["c_pixel_shift"] = np.array(1.0, np.float32)
    steps = [helper.make_node("Cast", ["input"], ["pixels_f32"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["pixels_f32", "c_pixel_scale"], ["pixels_scaled"]),
             helper.make_node("Sub", ["pixels_scaled", "c_pixel_shift"], ["pixels_normalized"])]
    source = "pixels_normalized"
    if dtype != TensorProto.FLOAT:
        steps.append(helper.make_node("Cast", [source], ["pixels_network"], to=dtype))
        source = "pixels_network"
    for node in nodes:
        for i, name in enumerate(node.input):
            if name == "input":
                node.input[i] = source
    return steps + nodes


def _to_float16(nodes: list[onnx.NodeProto], initializers: dict[str, np.ndarray],
                output_names: tuple[str, ...]) -> list[onnx.NodeProto]:
    """Weights and activations in float16, outputs cast back to float32.

    Convolution weights and biases become float16; Resize scales, pads and shapes keep the types
    the operators require. A float input is cast on the way in unless the uint8 normalization
    already does it.
    """
    for node in nodes:
        if node.op_type == "Conv":
            for name in node.input[1:]:
                initializers[name] = initializers[name].astype(np.float16)
    out = []
    if not any(n.op_type == "Cast" and n.input[0] == "input" for n in nodes):
        out.append(helper.make_node("Cast", ["input"], ["input_f16"], to=TensorProto.FLOAT16))
        for node in nodes:
            node.input[:] = ["input_f16" if name == "input" else name for name in node.input]
    for node in nodes:
        if node.op_type == "Identity" and node.output[0] in output_names:
            node = helper.make_node("Cast", node.input, node.output, to=TensorProto.FLOAT)
        out.append(node)
    return out


class _Converter:
    """Walks the TFLite subgraph once, emitting equivalent ONNX nodes."""

    def __init__(self, model: tflite.Model, buf: bytes, blocked: bool = False,
                 uint8_input: bool = False, float16: bool = False) -> None:
        self.model = model
        self.blocked = blocked  # shape the graph for ORT's blocked NCHWc CPU kernels
        self.uint8_input = uint8_input  # normalize uint8 pixels inside the graph
        self.float16 = float16  # float16 weights and activations
        self.buf = buf
        self.graph = model.Subgraphs(0)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, np.ndarray] = {}
        self.constants: dict[int, np.ndarray] = {}  # tflite tensor index -> value
        self.nchw: set[int] = set()  # tflite tensors whose ONNX value is transposed to NCHW
        self._counter = 0

    # -- tensors ---------------------------------------------------------------------------
    def tensor(self, index: int) -> tflite.Tensor:
        return self.graph.Tensors(index)

    def shape(self, index: int) -> list[int]:
        return [int(d) for d in self.tensor(index).ShapeAsNumpy()]

    def name(self, index: int) -> str:
        return f"t{index}_" + self.tensor(index).Name().decode()

    def buffer_value(self, index: int) -> np.ndarray | None:
        tensor = self.tensor(index)
        data = self.model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data.size == 0:
            return None
        dtype = _TFLITE_DTYPES[tensor.Type()]
        return np.frombuffer(data.tobytes(), dtype=dtype).reshape(self.shape(index))

    def constant(self, index: int) -> np.ndarray:
        if index not in self.constants:
            value = self.buffer_value(index)
            if value is None:
                raise ValueError(f"tensor {self.name(index)} is not a constant")
            self.constants[index] = value
        return self.constants[index]

    def add_initializer(self, value: np.ndarray, hint: str) -> str:
        self._counter += 1
        name = f"c{self._counter}_{hint}"
        self.initializers[name] = value
        return name

    def fresh(self, hint: str) -> str:
        self._counter += 1
        return f"v{self._counter}_{hint}"

    def emit(self, op: str, inputs: list[str], outputs: list[str], **attrs: object) -> None:
        self.nodes.append(helper.make_node(op, inputs, outputs, **attrs))

    def activation_output(self, fused: int, out_index: int) -> str:
        """Name the op's own output; append a Relu when TFLite fused one in."""
        if fused == tflite.ActivationFunctionType.NONE:
            return self.name(out_index)
        if fused != tflite.ActivationFunctionType.RELU:
            raise NotImplementedError(f"fused activation {fused}")
        pre = self.fresh("pre_relu")
        self.emit("Relu", [pre], [self.name(out_index)])
        return pre

    # -- operators -------------------------------------------------------------------------
    def convert(self, input_size: int) -> onnx.ModelProto:
        g = self.graph
        (in_index,) = [g.Inputs(i) for i in range(g.InputsLength())]
        out_indices = [g.Outputs(i) for i in range(g.OutputsLength())]
        self.emit("Transpose", ["input"], [self.name(in_index)], perm=_NHWC_TO_NCHW)
        self.nchw.add(in_index)
        for j in range(g.OperatorsLength()):
            op = g.Operators(j)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            op_name = _OP_NAMES[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
            handler = getattr(self, "op_" + op_name.lower(), None)
            if handler is None:
                raise NotImplementedError(f"TFLite operator {op_name} is not supported")
            handler(op, list(op.InputsAsNumpy()), list(op.OutputsAsNumpy()))

        outputs = []
        for index, onnx_name in zip(out_indices, ("regressors", "classificators"), strict=False):
            self.emit("Identity", [self.name(index)], [onnx_name])
            outputs.append(helper.make_tensor_value_info(
                onnx_name, TensorProto.FLOAT, ["batch"] + self.shape(index)[1:]))
        nodes = _pad_channels_to_blocks(self.nodes, self.initializers) if self.blocked else self.nodes
        if self.uint8_input:
            nodes = _normalize_uint8_input(
                nodes, self.initializers, TensorProto.FLOAT16 if self.float16 else TensorProto.FLOAT)
        if self.float16:
            nodes = _to_float16(nodes, self.initializers, ("regressors", "classificators"))
        input_type = TensorProto.UINT8 if self.uint8_input else TensorProto.FLOAT
        graph = helper.make_graph(
            nodes, "blazeface",
            [helper.make_tensor_value_info("input", input_type,
                                           ["batch", input_size, input_size, 3])],
            outputs,
            [numpy_helper.from_array(v, k) for k, v in self.initializers.items()],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                  producer_name="blazecli-tools-tflite_to_onnx")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model

    def op_dequantize(self, op, ins, outs) -> None:
        # float16 weights stored behind DEQUANTIZE: the float32 cast is exact.
        self.constants[outs[0]] = self.constant(ins[0]).astype(np.float32)

    def _conv(self, op, ins, outs, depthwise: bool) -> None:
        opts_cls = tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions
        opts = opts_cls()
        table = op.BuiltinOptions()
        opts.Init(table.Bytes, table.Pos)
        weights = self.constant(ins[1])  # (O, kh, kw, I) or (1, kh, kw, C*mult)
        if depthwise:
            kernel = weights.transpose(3, 0, 1, 2)  # (C*mult, 1, kh, kw)
            group = self.shape(ins[0])[3]
        else:
            kernel = weights.transpose(0, 3, 1, 2)  # (O, I, kh, kw)
            group = 1
        stride = (opts.StrideH(), opts.StrideW())
        dilation = (opts.DilationHFactor(), opts.DilationWFactor())
        in_hw = tuple(self.shape(ins[0])[1:3])
        k_hw = kernel.shape[2:]
        pads = (_same_pads(in_hw, k_hw, stride, dilation)
                if opts.Padding() == tflite.Padding.SAME else [0, 0, 0, 0])
        inputs = [self.name(ins[0]), self.add_initializer(kernel, "w")]
        if len(ins) > 2 and ins[2] >= 0:
            inputs.append(self.add_initializer(self.constant(ins[2]).astype(np.float32), "b"))
        out = self.activation_output(opts.FusedActivationFunction(), outs[0])
        self.emit("Conv", inputs, [out], kernel_shape=list(k_hw), strides=list(stride),
                  dilations=list(dilation), pads=pads, group=group)
        self.nchw.add(outs[0])

    def op_conv_2d(self, op, ins, outs) -> None:
        self._conv(op, ins, outs, depthwise=False)

    def op_depthwise_conv_2d(self, op, ins, outs) -> None:
        self._conv(op, ins, outs, depthwise=True)

    def op_add(self, op, ins, outs) -> None:
        opts = tflite.AddOptions()
        table = op.BuiltinOptions()
        opts.Init(table.Bytes, table.Pos)
        out = self.activation_output(opts.FusedActivationFunction(), outs[0])
        self.emit("Add", [self.name(ins[0]), self.name(ins[1])], [out])
        if ins[0] in self.nchw and ins[1] in self.nchw:
            self.nchw.add(outs[0])
        elif ins[0] in self.nchw or ins[1] in self.nchw:
            raise NotImplementedError("ADD of mixed layouts")

    def op_relu(self, op, ins, outs) -> None:
        self.emit("Relu", [self.name(ins[0])], [self.name(outs[0])])
        if ins[0] in self.nchw:
            self.nchw.add(outs[0])

    def op_max_pool_2d(self, op, ins, outs) -> None:
        opts = tflite.Pool2DOptions()
        table = op.BuiltinOptions()
        opts.Init(table.Bytes, table.Pos)
        kernel = (opts.FilterHeight(), opts.FilterWidth())
        stride = (opts.StrideH(), opts.StrideW())
        in_hw = tuple(self.shape(ins[0])[1:3])
        pads = (_same_pads(in_hw, kernel, stride)
                if opts.Padding() == tflite.Padding.SAME else [0, 0, 0, 0])
        if opts.FusedActivationFunction() != tflite.ActivationFunctionType.NONE:
            raise NotImplementedError("fused activation on MAX_POOL_2D")
        self.emit("MaxPool", [self.name(ins[0])], [self.name(outs[0])],
                  kernel_shape=list(kernel), strides=list(stride), pads=pads)
        self.nchw.add(outs[0])

    def op_pad(self, op, ins, outs) -> None:
        paddings = self.constant(ins[1]).astype(np.int64)  # (4, 2) in NHWC order
        if ins[0] not in self.nchw:
            raise NotImplementedError("PAD of a non-image tensor")
        channels = self.shape(ins[0])[3]
        if self.blocked and not paddings[:3].any() and paddings[3, 0] == 0:
            self._grow_channels(ins[0], outs[0], channels, channels + int(paddings[3, 1]))
            return
        nchw = paddings[_NHWC_TO_NCHW]
        pads = np.concatenate([nchw[:, 0], nchw[:, 1]])
        self.emit("Pad", [self.name(ins[0]), self.add_initializer(pads, "pads")],
                  [self.name(outs[0])], mode="constant")
        self.nchw.add(outs[0])

    def _grow_channels(self, source: int, target: int, channels: int, grown: int) -> None:
        """Zero channels appended, as a 1x1 Conv with identity weights instead of a Pad.

        BlazeBlocks widen their skip path this way. ORT runs Conv in its blocked NCHWc layout
        but Pad only in plain NCHW, so each Pad cost two layout reorders and kept the Add and
        Relu after it from fusing into the Conv: on the short model, 1.41 -> 1.22 ms a frame
        at batch 8 on one core. The values are the same: x*1 plus zeros.
        """
        weight = np.zeros((grown, channels, 1, 1), np.float32)
        weight[np.arange(channels), np.arange(channels), 0, 0] = 1.0
        self.emit("Conv", [self.name(source), self.add_initializer(weight, "grow")],
                  [self.name(target)], kernel_shape=[1, 1])
        self.nchw.add(target)

    def op_reshape(self, op, ins, outs) -> None:
        source = self.name(ins[0])
        if ins[0] in self.nchw:  # back to TFLite's element order before flattening
            source_nhwc = self.fresh("nhwc")
            self.emit("Transpose", [source], [source_nhwc], perm=_NCHW_TO_NHWC)
            source = source_nhwc
        new_shape = np.array([0] + self.shape(outs[0])[1:], dtype=np.int64)  # 0: keep batch
        self.emit("Reshape", [source, self.add_initializer(new_shape, "shape")],
                  [self.name(outs[0])])

    def op_concatenation(self, op, ins, outs) -> None:
        opts = tflite.ConcatenationOptions()
        table = op.BuiltinOptions()
        opts.Init(table.Bytes, table.Pos)
        axis = opts.Axis()
        rank = len(self.shape(outs[0]))
        axis = axis % rank
        layouts = {i in self.nchw for i in ins}
        if layouts == {True}:
            axis = _NHWC_TO_NCHW.index(axis)
            self.nchw.add(outs[0])
        elif len(layouts) > 1:
            raise NotImplementedError("CONCATENATION of mixed layouts")
        if opts.FusedActivationFunction() != tflite.ActivationFunctionType.NONE:
            raise NotImplementedError("fused activation on CONCATENATION")
        self.emit("Concat", [self.name(i) for i in ins], [self.name(outs[0])], axis=axis)

    def op_resize_bilinear(self, op, ins, outs) -> None:
        opts = tflite.ResizeBilinearOptions()
        table = op.BuiltinOptions()
        opts.Init(table.Bytes, table.Pos)
        if opts.AlignCorners():
            mode = "align_corners"
        elif opts.HalfPixelCenters():
            mode = "half_pixel"
        else:
            mode = "asymmetric"
        in_hw = self.shape(ins[0])[1:3]
        out_hw = self.shape(outs[0])[1:3]
        scales = np.array([1.0, 1.0, out_hw[0] / in_hw[0], out_hw[1] / in_hw[1]], np.float32)
        self.emit("Resize", [self.name(ins[0]), "", self.add_initializer(scales, "scales")],
                  [self.name(outs[0])], mode="linear", coordinate_transformation_mode=mode)
        self.nchw.add(outs[0])


def convert(tflite_path: Path, blocked: bool = False, uint8_input: bool = False,
            float16: bool = False) -> onnx.ModelProto:
    """Build the ONNX model for one BlazeFace ``.tflite`` file (see the module doc for the forms)."""
    if blocked and (uint8_input or float16):
        raise ValueError("the blocked form is for x86 CPUs; --uint8-input/--float16 make the CUDA form")
    buf = tflite_path.read_bytes()
    model = tflite.Model.GetRootAsModel(buf, 0)
    converter = _Converter(model, buf, blocked, uint8_input, float16)
    graph = model.Subgraphs(0)
    input_size = converter.shape(graph.Inputs(0))[1]
    return converter.convert(input_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tflite", type=Path)
    parser.add_argument("onnx", type=Path)
    parser.add_argument("--blocked", action="store_true",
                        help="shape the graph for ONNX Runtime's blocked (NCHWc) x86 CPU kernels")
    parser.add_argument("--uint8-input", action="store_true",
                        help="take uint8 pixels and normalize them inside the graph")
    parser.add_argument("--float16", action="store_true",
                        help="float16 weights and activations (outputs stay float32)")
    args = parser.parse_args()
    onnx.save(convert(args.tflite, args.blocked, args.uint8_input, args.float16), args.onnx)
    print(f"wrote {args.onnx}")


if __name__ == "__main__":
    main()
