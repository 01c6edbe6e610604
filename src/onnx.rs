//! Just enough of ONNX's protobuf encoding to read a model's float initializers and its nodes'
//! names and inputs (used to convert the teacher's weights: natively and in the wasm module under Node).
//!
//! Field numbers from `onnx.proto` (ModelProto.graph = 7; GraphProto.node = 1, .initializer = 5;
//! NodeProto.input = 1, .output = 2, .name = 3, .op_type = 4; TensorProto.dims = 1,
//! .data_type = 2, .float_data = 4, .name = 8, .raw_data = 9).

use std::collections::HashMap;

/// A parse failure, with what was being read.
#[derive(Debug, thiserror::Error)]
#[error("malformed ONNX file: {0}")]
pub struct OnnxError(String);

/// A float tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatTensor {
    /// Dimensions.
    pub dims: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

/// A node of the graph.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    /// Node name.
    pub name: String,
    /// Operator (`Conv`, ...).
    pub op_type: String,
    /// Input names.
    pub inputs: Vec<String>,
}

/// What was read from a model.
#[derive(Debug, Default)]
pub struct Graph {
    /// Nodes in file order.
    pub nodes: Vec<Node>,
    /// Float (data_type 1) initializers by name.
    pub initializers: HashMap<String, FloatTensor>,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, OnnxError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or_else(|| OnnxError("truncated varint".into()))?;
            self.pos += 1;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(OnnxError("varint too long".into()))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], OnnxError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| OnnxError("field runs past the end".into()))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next field: (number, value), or None at the end.
    fn field(&mut self) -> Result<Option<(u64, Value<'a>)>, OnnxError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed
            }
            2 => {
                let n = self.varint()? as usize;
                Value::Bytes(self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Value::Fixed
            }
            w => return Err(OnnxError(format!("unsupported wire type {w}"))),
        };
        Ok(Some((key >> 3, value)))
    }
}

fn string(b: &[u8]) -> Result<String, OnnxError> {
    String::from_utf8(b.to_vec()).map_err(|_| OnnxError("a name is not UTF-8".into()))
}

/// Parse a model's graph.
pub fn parse(model: &[u8]) -> Result<Graph, OnnxError> {
    let mut r = Reader::new(model);
    let mut graph = None;
    while let Some((num, v)) = r.field()? {
        if let (7, Value::Bytes(b)) = (num, v) {
            graph = Some(b);
        }
    }
    let graph_bytes = graph.ok_or_else(|| OnnxError("no graph".into()))?;
    let mut out = Graph::default();
    let mut r = Reader::new(graph_bytes);
    while let Some((num, v)) = r.field()? {
        match (num, v) {
            (1, Value::Bytes(b)) => out.nodes.push(node(b)?),
            (5, Value::Bytes(b)) => {
                if let Some((name, t)) = tensor(b)? {
                    out.initializers.insert(name, t);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn node(b: &[u8]) -> Result<Node, OnnxError> {
    let mut n = Node::default();
    let mut r = Reader::new(b);
    while let Some((num, v)) = r.field()? {
        match (num, v) {
            (1, Value::Bytes(s)) => n.inputs.push(string(s)?),
            (3, Value::Bytes(s)) => n.name = string(s)?,
            (4, Value::Bytes(s)) => n.op_type = string(s)?,
            _ => {}
        }
    }
    Ok(n)
}

/// A float initializer, or None for other data types.
fn tensor(b: &[u8]) -> Result<Option<(String, FloatTensor)>, OnnxError> {
    let (mut name, mut dims, mut dtype, mut raw, mut floats) = (String::new(), Vec::new(), 0, None, Vec::new());
    let mut r = Reader::new(b);
    while let Some((num, v)) = r.field()? {
        match (num, v) {
            (1, Value::Varint(d)) => dims.push(d as usize),
            (1, Value::Bytes(packed)) => {
                let mut p = Reader::new(packed);
                while p.pos < packed.len() {
                    dims.push(p.varint()? as usize);
                }
            }
            (2, Value::Varint(t)) => dtype = t,
            (4, Value::Bytes(packed)) => floats.extend(le_floats(packed)?),
            (8, Value::Bytes(s)) => name = string(s)?,
            (9, Value::Bytes(s)) => raw = Some(s),
            _ => {}
        }
    }
    if dtype != 1 {
        return Ok(None);
    }
    let values = match raw {
        Some(raw) => le_floats(raw)?,
        None => floats,
    };
    if values.len() != dims.iter().product::<usize>() {
        return Err(OnnxError(format!("{name}: {} values for dims {dims:?}", values.len())));
    }
    Ok(Some((name, FloatTensor { dims, values })))
}

fn le_floats(b: &[u8]) -> Result<Vec<f32>, OnnxError> {
    if !b.len().is_multiple_of(4) {
        return Err(OnnxError("float data is not a multiple of 4 bytes".into()));
    }
    Ok(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn field(num: u64, bytes: &[u8], out: &mut Vec<u8>) {
        varint(num << 3 | 2, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }

    #[test]
    fn reads_a_hand_made_model() {
        let mut t = Vec::new();
        varint(1 << 3, &mut t);
        varint(2, &mut t);
        varint(1 << 3, &mut t);
        varint(1, &mut t);
        varint(2 << 3, &mut t);
        varint(1, &mut t);
        field(8, b"w", &mut t);
        let raw: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|f| f.to_le_bytes()).collect();
        field(9, &raw, &mut t);
        let mut n = Vec::new();
        field(1, b"x", &mut n);
        field(1, b"w", &mut n);
        field(3, b"conv", &mut n);
        field(4, b"Conv", &mut n);
        let mut g = Vec::new();
        field(1, &n, &mut g);
        field(5, &t, &mut g);
        let mut m = Vec::new();
        varint(1 << 3, &mut m);
        varint(7, &mut m);
        field(7, &g, &mut m);
        let graph = parse(&m).unwrap();
        assert_eq!(graph.nodes, vec![Node { name: "conv".into(), op_type: "Conv".into(), inputs: vec!["x".into(), "w".into()] }]);
        assert_eq!(graph.initializers["w"], FloatTensor { dims: vec![2, 1], values: vec![1.5, -2.0] });
        assert!(parse(&m[..m.len() - 3]).is_err());
    }
}
